"""The digest: compliance and its change, newly failing hosts, expiring certificates, unreachable hosts."""

from __future__ import annotations

from fleetcheck.findings import HostStatus
from fleetcheck.notify.digest import (
    build_digest,
    markdown_escape,
    render_html,
    render_markdown,
    render_subject,
    render_text,
    should_send,
)

from .fleet import cert, down_host, failing_host, office, ok_host


def test_compliance_counts_unreachable_hosts_as_not_compliant() -> None:
    digest = build_digest(office(), None)
    assert (digest.total_hosts, digest.compliant_hosts, digest.noncompliant_hosts) == (8, 5, 2)
    assert digest.compliance_pct == 62.5
    assert digest.previous_pct is None and digest.delta_pct is None
    assert digest.changed and digest.change_reasons == ("first_run",)


def test_change_since_previous_run_and_newly_failing_hosts() -> None:
    before = office("run-1")
    now = office("run-2", PC_SZ_003=failing_host("PC-SZ-003"))
    digest = build_digest(now, before)
    assert digest.previous_pct == 62.5 and digest.compliance_pct == 50.0
    assert digest.delta_pct == -12.5
    assert [h.host for h in digest.newly_failing] == ["PC-SZ-003"]
    assert [t.zh for t in digest.newly_failing[0].failing_checks] == [
        "biz.sccc.com 已加入受信任站点",
        "CertEnroll 控件版本为 2.0.4.8",
    ]
    # PC-SZ-007 was already failing: not "newly"
    assert "compliance" in digest.change_reasons and "newly_failing" in digest.change_reasons


def test_expiring_certificates_sorted_expired_first_and_thresholded() -> None:
    run = office(PC_SZ_005=ok_host("PC-SZ-005", cert("F00504Y0011#0", 30, "AA05"), cert("F00504Y0012#0", 31, "AA06")))
    digest = build_digest(run, None, expiring_days=30)
    assert [(c.subject_cn, c.days_left) for c in digest.expiring] == [
        ("F00504Y0010#0", -5),
        ("F00504Y0008#0", 12),
        ("F00504Y0011#0", 30),
    ]
    assert digest.expiring[0].expired


def test_days_left_computed_from_not_after_when_missing() -> None:
    run = office(PC_SZ_006=ok_host("PC-SZ-006", cert("F00504Y0013#0", None, "AA07", not_after="2026-12-05T00:00:00Z")))
    digest = build_digest(run, None)
    found = {c.subject_cn: c.days_left for c in digest.expiring}
    assert found["F00504Y0013#0"] == 10  # 2026-11-24T23:30Z → 2026-12-05T00:00Z: 10 days 30 min


def test_same_certificate_reported_once_per_host() -> None:
    run = office(PC_SZ_006=ok_host("PC-SZ-006", cert("X#0", 3, "ab12"), cert("X#0", 3, "AB12")))
    assert [c.host for c in build_digest(run, None).expiring].count("PC-SZ-006") == 1


def test_unreachable_hosts_with_error_class_and_new_flag() -> None:
    before = office("run-1")
    now = office("run-2", PC_SZ_001=down_host("PC-SZ-001", HostStatus.auth_failed, "AuthenticationFailed"))
    digest = build_digest(now, before)
    by_host = {u.host: u for u in digest.unreachable}
    assert by_host["PC-SZ-001"].status == "auth_failed"
    assert by_host["PC-SZ-001"].error_class == "AuthenticationFailed" and by_host["PC-SZ-001"].new
    assert not by_host["PC-SZ-008"].new
    assert "unreachable" in digest.change_reasons


def test_identical_run_is_not_a_change_and_days_ticking_down_is_not_either() -> None:
    assert not build_digest(office("run-2"), office("run-1")).changed
    ticked = office("run-2", PC_SZ_002=ok_host("PC-SZ-002", cert("F00504Y0008#0", 11, "AA02")))
    assert not build_digest(ticked, office("run-1")).changed
    new_cert = office("run-2", PC_SZ_003=ok_host("PC-SZ-003", cert("F00504Y0009#0", 29, "AA03")))
    digest = build_digest(new_cert, office("run-1"))
    assert digest.changed and digest.change_reasons == ("expiring",)


def test_should_send_by_notify_on() -> None:
    same = build_digest(office("run-2"), office("run-1"))
    assert should_send(same, "always") and should_send(same, "problems") and not should_send(same, "change")
    clean_run = office(
        **{f"PC_SZ_00{i}": ok_host(f"PC-SZ-00{i}") for i in range(1, 9)}
    )
    clean = build_digest(clean_run, clean_run)
    assert not clean.has_problems and not should_send(clean, "problems") and not should_send(clean, "change")


def test_subject_and_text_in_chinese_by_default_and_english_on_request() -> None:
    digest = build_digest(office("run-2", PC_SZ_003=failing_host("PC-SZ-003")), office("run-1"))
    subject = render_subject(digest)
    assert subject.startswith("fleetcheck 合规报告：合规率 50.0%（-12.5）")
    assert "新增不合规 1 台" in subject and "无法连接 1 台" in subject
    text = render_text(digest)
    assert "已过期 5 天：F00504Y0010#0（PC-SZ-004，到期 2026-11-20）" in text
    assert "PC-SZ-008：timeout HostTimeout" in text
    en = render_text(digest, "en")
    assert "Compliance 50.0% (4/8 hosts), previously 62.5%, -12.5 points" in en
    assert "expired 5 days ago: F00504Y0010#0" in en


def test_values_are_escaped_in_html_and_markdown() -> None:
    evil = "<script>alert(1)</script>"
    digest = build_digest(office(PC_SZ_003=failing_host(evil)), office("run-1", PC_SZ_003=ok_host(evil)))
    page = render_html(digest)
    assert evil not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    md = render_markdown(digest)
    assert "<script>" not in md and "＜script＞" in md
    assert markdown_escape("**x**") == "\\*\\*x\\*\\*"


def test_long_lists_are_capped_with_a_count_of_the_rest() -> None:
    hosts = {f"PC_X_{i:03d}": down_host(f"PC-X-{i:03d}") for i in range(45)}
    digest = build_digest(office(**hosts), None)
    text = render_text(digest)
    assert text.count("HostTimeout") == 20
    assert "另有 26 项" in text  # 45 + PC-SZ-008 = 46 unreachable


def test_the_first_notification_lists_the_non_compliant_hosts() -> None:
    digest = build_digest(office(), None)
    listed = [h.host for h in digest.newly_failing]
    assert len(listed) == digest.noncompliant_hosts == 2 and all(h.failing_checks for h in digest.newly_failing)
    zh, en = render_subject(digest), render_subject(digest, "en")
    assert "不合规 2 台" in zh and "新增" not in zh
    assert "2 non-compliant" in en and "newly" not in en
