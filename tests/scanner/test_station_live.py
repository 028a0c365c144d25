"""The station loop against a live server on a local port, with a fake camera."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ledger.codes import parse_scan
from scanner.sources import Input, read_camera
from scanner.synth import photograph, render_label
from tests.conftest import bearer
from tests.scanner.conftest import LiveServer, Rig, register_cylinder


class FakeCamera:
    """Frames from a list, then end of stream."""

    def __init__(self, frames: list[Any]) -> None:
        self.frames = list(frames)
        self.released = False

    def read(self) -> tuple[bool, Any]:
        if not self.frames:
            return False, None
        return True, self.frames.pop(0)

    def release(self) -> None:
        self.released = True


def camera_scans(frames: list[Any]) -> list[Input]:
    """Run the camera source over the frames and collect what it reports."""
    got: list[Input] = []
    camera = FakeCamera(frames)
    read_camera(lambda: camera, got.append, threading.Event(), once=True)
    assert camera.released
    return got


def events_of(client: Any, code: str, token: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/cylinders/{code}/events", headers=bearer(token))
    assert response.status_code == 200
    events: list[dict[str, Any]] = response.get_json()["events"]
    return events


def test_a_legal_cylinder_seen_by_the_camera_is_allowed_filled_and_signed(
    rig: Rig, client: Any, demo: dict[str, Any]
) -> None:
    cyl = register_cylinder(client, demo["tokens"]["enterprise_a"])
    blank = photograph(render_label("x", "x"), [], 0.0, seed=1) * 0 + 128
    label = photograph(render_label(cyl["qr"], cyl["code"]), ["glare", "noise"], 0.3, seed=7)
    inputs = camera_scans([blank, label, label, label, blank])
    assert [i.kind for i in inputs] == ["scan", "end"]  # the held code is reported once
    rig.station.start()
    outcome = rig.station.handle(inputs[0])
    assert outcome is not None and outcome.allowed and not outcome.offline
    assert outcome.code == cyl["code"]
    assert rig.interlock.enabled
    body = rig.station.fill(31.9)
    assert body is not None and not rig.interlock.enabled  # locked again after the fill
    filled = [e for e in events_of(client, cyl["code"], demo["tokens"]["enterprise_a"])
              if e["type"] == "filled"]  # fmt: skip
    assert len(filled) == 1
    assert filled[0]["id"] == body["id"]
    assert filled[0]["key_id"] == rig.station.uplink.key.key_id  # signed by the station
    assert filled[0]["payload"]["net_kg"] == round(31.9 - cyl["tare_kg"], 3)
    assert [o.status for o in rig.cache.all()] == ["sent"]


def test_forged_and_foreign_codes_keep_the_scale_locked(
    rig: Rig, client: Any, demo: dict[str, Any]
) -> None:
    rig.station.start()
    cyl = register_cylinder(client, demo["tokens"]["enterprise_a"])
    good_sig = parse_scan(cyl["qr"]).signature
    assert good_sig is not None
    forged = cyl["qr"].split("?s=")[0] + "?s=" + "A" * 86
    other = register_cylinder(client, demo["tokens"]["enterprise_b"])
    for text, code in [(forged, "FORGED_CODE"), (other["qr"], "NOT_OWNED"),
                       ("ZZZZZZZZZZZ0", "UNKNOWN_CODE")]:  # fmt: skip
        outcome = rig.station.scan(text)
        assert not outcome.allowed
        assert code in [r["code"] for r in outcome.reasons]
        assert not rig.interlock.enabled
    assert all(c == "deny" for c in rig.interlock.calls)


def test_garbage_from_the_wedge_and_other_systems_payloads_are_blocked_and_the_loop_goes_on(
    rig: Rig, client: Any, demo: dict[str, Any]
) -> None:
    rig.station.start()
    for junk in ["WIFI:S:cafe;T:WPA;P:12345678;;", "https://weixin.qq.com/r/abc123",
                 "\x1b[A\x1b[B??", "q" * 5000, "https://ledger.test/c/ABC?s=%%%"]:  # fmt: skip
        outcome = rig.station.handle(Input("scan", "stdin", junk))
        assert outcome is not None and not outcome.allowed
        assert [r["code"] for r in outcome.reasons] == ["SCAN_INVALID"]
    cyl = register_cylinder(client, demo["tokens"]["enterprise_a"])
    assert rig.station.scan(cyl["code"]).allowed  # still running, and a bare code works
    assert not rig.cache.all()  # nothing was queued for junk


def test_a_weight_without_an_allowed_cylinder_is_ignored(rig: Rig) -> None:
    rig.station.start()
    assert rig.station.fill(30.0) is None
    assert not rig.cache.all()
    assert not rig.interlock.enabled


def test_an_interlock_fault_turns_an_allow_into_a_block(
    rig: Rig, client: Any, demo: dict[str, Any]
) -> None:
    rig.station.start()
    rig.interlock.fail = True
    cyl = register_cylinder(client, demo["tokens"]["enterprise_a"])
    outcome = rig.station.scan(cyl["qr"])
    assert not outcome.allowed
    assert outcome.reasons[-1]["code"] == "INTERLOCK_FAULT"
    assert rig.station.armed is None
    assert rig.station.fill(31.0) is None


def test_the_device_key_is_registered_once_and_kept(
    live: LiveServer, demo: dict[str, Any], tmp_path: Path
) -> None:
    from tests.scanner.conftest import make_rig

    token, sid = demo["tokens"]["station_a"], demo["stations"]["a"]
    first = make_rig(live.url, token, sid, tmp_path / "st")
    first.station.start()
    assert first.station.uplink.identity.signing
    assert (tmp_path / "st" / "device.key").stat().st_mode & 0o777 == 0o600
    again = make_rig(live.url, token, sid, tmp_path / "st")  # a restart: same key file
    again.station.start()
    assert again.station.uplink.identity.signing
    other = make_rig(live.url, token, sid, tmp_path / "other")  # a second PC, new key
    other.station.start()
    assert not other.station.uplink.identity.signing  # told loudly, the server signs
    assert any(alert for _, _, alert in other.display.messages)


def test_the_cache_is_synced_incrementally_between_full_syncs(
    rig: Rig, client: Any, demo: dict[str, Any]
) -> None:
    owner = demo["tokens"]["enterprise_a"]
    first = register_cylinder(client, owner)
    rig.station.start()
    full_at = rig.cache.meta("full_synced_at")
    assert full_at and rig.cache.cylinder(first["code"]) is not None
    second = register_cylinder(client, owner)
    assert rig.cache.cylinder(second["code"]) is None
    assert rig.station.uplink.tick()
    assert rig.cache.meta("full_synced_at") == full_at  # an incremental sync
    assert rig.cache.cylinder(second["code"]) is not None
    assert rig.cache.cylinder(first["code"]) is not None  # kept


def test_a_revoked_or_wrong_token_blocks_with_the_servers_reason(
    live: LiveServer, client: Any, demo: dict[str, Any], tmp_path: Path
) -> None:
    from tests.scanner.conftest import make_rig

    cyl = register_cylinder(client, demo["tokens"]["enterprise_a"])
    bad = make_rig(live.url, "not-a-token", demo["stations"]["a"], tmp_path / "bad")
    bad.station.start()
    assert any("拒绝" in zh and alert for zh, _, alert in bad.display.messages)
    outcome = bad.station.scan(cyl["qr"])
    assert not outcome.allowed and not outcome.offline
    assert outcome.reasons[0]["code"] == "SERVER_REFUSED"
    other = make_rig(live.url, demo["tokens"]["station_b"], demo["stations"]["a"], tmp_path / "b")
    other.station.start()  # station B's token claiming station A
    outcome = other.station.scan(cyl["qr"])
    assert not outcome.allowed and outcome.reasons[0]["code"] == "SERVER_REFUSED"
    assert not bad.interlock.enabled and not other.interlock.enabled
