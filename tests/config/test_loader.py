from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from erpbridge.config import ConfigErrors, load_project, load_project_text
from tests.fakes import fake_registry

GOOD = """\
name: demo
timezone: Asia/Shanghai
connections:
  crm:
    type: fakecrm
    base_url: https://crm.example
    username: integration@example.com
    password: ${env:CRM_PASSWORD}
  erp:
    type: fakeerp
    base_url: https://erp.example
    username: ERPUSER
    password: ${file:erp.secret}
    limits: {requests_per_s: 20, concurrency: 2, batch_size: 100}
flows:
  orders-to-erp:
    entity: order
    source: {connection: crm, object: Order, trigger: {webhook: true, poll: 1m}}
    target: {connection: erp, object: A_SalesOrder, write: upsert, key: PurchaseOrderByCustomer}
    when: source.Status == "Activated"
    map:
      PurchaseOrderByCustomer: source.OrderNumber
  nightly:
    source: {connection: erp, object: Stock, trigger: {schedule: {cron: "0 2 * * *", timezone: Asia/Shanghai}}}
    target: {connection: crm, object: Product2, write: update}
    map: {Stock__c: source.Qty}
tables:
  sales_org: {values: {North: "1010"}, default: "1010"}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "erpbridge.yaml"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "erp.secret").write_text("erp-s3cret-value\n", encoding="utf-8")
    return path


def _errors(text: str, tmp_path: Path, environ: dict[str, str] | None = None) -> list[str]:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigErrors) as caught:
        load_project(path, registry=fake_registry(), environ=environ or {"CRM_PASSWORD": "pw-1234"})
    return [e.describe() for e in caught.value.errors]


def test_valid_project_loads_with_resolved_secrets(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    project = load_project(path, registry=fake_registry(), environ={"CRM_PASSWORD": "pw-1234"})
    crm = project.connections["crm"]
    erp = project.connections["erp"]
    assert crm.password.reveal() == "pw-1234"  # type: ignore[attr-defined]
    assert erp.password.reveal() == "erp-s3cret-value"  # type: ignore[attr-defined]
    assert erp.limits.batch_size == 100
    flow = project.spec.flows["orders-to-erp"]
    assert flow.source.trigger.poll is not None and flow.source.trigger.poll.total_seconds() == 60
    assert project.spec.flows["nightly"].source.trigger.schedule is not None


def test_secret_never_appears_in_repr_or_dump(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    project = load_project(path, registry=fake_registry(), environ={"CRM_PASSWORD": "pw-1234"})
    text = repr(project.connections) + str(project.connections["crm"].model_dump())
    assert "pw-1234" not in text and "erp-s3cret-value" not in text
    assert "${env:CRM_PASSWORD}" in text


def test_unknown_key_gets_line_column_and_did_you_mean(tmp_path: Path) -> None:
    text = GOOD.replace("    when: source", "    wehn: source")
    errors = _errors(text, tmp_path)
    assert errors == [
        f"{tmp_path / 'erpbridge.yaml'}:20:5: flows.orders-to-erp.wehn: unknown key 'wehn'; "
        "did you mean 'when'?"
    ]


def test_unknown_connection_setting_is_checked_against_the_connector(tmp_path: Path) -> None:
    errors = _errors(GOOD.replace("    username: ERPUSER", "    usernme: ERPUSER"), tmp_path)
    assert len(errors) == 2
    assert ":9:3: connections.erp.username: missing required key 'username'" in errors[0]
    assert (
        ":12:5: connections.erp.usernme: unknown key 'usernme'; did you mean 'username'?"
        in errors[1]
    )


def test_every_error_is_reported_at_once_in_file_order(tmp_path: Path) -> None:
    text = (
        GOOD.replace("type: fakeerp", "type: fakeepr")
        .replace("connection: crm, object: Order", "connection: crn, object: Order")
        .replace("page_size", "x")
        .replace('cron: "0 2 * * *"', 'cron: "0 25 * * *"')
    )
    errors = _errors(text, tmp_path)
    joined = "\n".join(errors)
    assert len(errors) == 2, joined  # the model error stops cross-checks; connections still checked
    assert (
        ":10:11: connections.erp.type: unknown connector type 'fakeepr'; did you mean 'fakeerp'?"
        in errors[0]
    )
    assert ":24:" in errors[1] and "is not a cron expression" in errors[1]


def test_flow_naming_missing_connection_is_an_error(tmp_path: Path) -> None:
    errors = _errors(
        GOOD.replace("connection: crm, object: Order", "connection: crn, object: Order"), tmp_path
    )
    assert len(errors) == 1
    assert errors[0].endswith(
        "flows.orders-to-erp.source.connection: unknown connection 'crn'; did you mean 'crm'?"
    )
    assert ":18:26:" in errors[0]


def test_unresolvable_secret_names_the_reference_not_a_value(tmp_path: Path) -> None:
    errors = _errors(GOOD, tmp_path, environ={"OTHER": "x"})
    assert len(errors) == 1
    assert "connections.crm.password: secret ${env:CRM_PASSWORD} does not resolve" in errors[0]
    assert ":8:15:" in errors[0]


def test_literal_password_is_refused_without_echoing_it(tmp_path: Path) -> None:
    errors = _errors(GOOD.replace("${env:CRM_PASSWORD}", "hunter2-literal"), tmp_path)
    assert len(errors) == 1
    assert "must be a reference like ${env:NAME}" in errors[0]
    assert "hunter2-literal" not in errors[0]


def test_dotenv_in_project_folder_resolves_env_references(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    (tmp_path / ".env").write_text("# local\nCRM_PASSWORD='from-dotenv'\n", encoding="utf-8")
    project = load_project(path, registry=fake_registry(), environ={})
    assert project.connections["crm"].password.reveal() == "from-dotenv"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: [1\n", "invalid YAML"),
        ("- just\n- a list\n", "the project file must be a mapping"),
        ("flows: {f: {source: 3}}\n", "flows.f.source: input should be a valid dictionary"),
        ("timezone: Mars/Olympus\n", "unknown time zone 'Mars/Olympus'"),
        ("version: 2\n", "version: input should be 1"),
        ("connections: {'bad name': {type: fakecrm}}\n", "invalid name 'bad name'"),
    ],
)
def test_bad_input_is_one_clear_located_line(text: str, expected: str) -> None:
    with pytest.raises(ConfigErrors) as caught:
        load_project_text(text, registry=fake_registry(), environ={})
    assert any(expected in e.describe() for e in caught.value.errors), caught.value
    assert all(e.line is not None for e in caught.value.errors)


def test_upsert_without_key_explains_why(tmp_path: Path) -> None:
    errors = _errors(GOOD.replace(", write: upsert, key: PurchaseOrderByCustomer", ""), tmp_path)
    assert len(errors) == 1
    assert "write: upsert needs key" in errors[0]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors, match="file not found"):
        load_project(tmp_path / "nope.yaml", registry=fake_registry())


def test_plain_setting_may_come_from_the_environment(tmp_path: Path) -> None:
    path = _write(
        tmp_path, GOOD.replace("base_url: https://crm.example", "base_url: ${env:CRM_URL}")
    )
    project = load_project(
        path,
        registry=fake_registry(),
        environ={"CRM_PASSWORD": "pw-1234", "CRM_URL": "https://crm.test"},
    )
    assert project.connections["crm"].base_url == "https://crm.test"  # type: ignore[attr-defined]


def test_unresolved_plain_setting_reference_is_located(tmp_path: Path) -> None:
    errors = _errors(
        GOOD.replace("base_url: https://crm.example", "base_url: ${env:CRM_URL}"), tmp_path
    )
    assert len(errors) == 1
    assert ":6:15: connections.crm.base_url: ${env:CRM_URL} does not resolve" in errors[0]


def test_retention_defaults_to_30_days_and_0_or_null_keeps_jobs_forever() -> None:
    default = load_project_text("name: x\n", registry=fake_registry(), environ={})
    assert default.spec.store.retention.jobs_age == timedelta(days=30)
    for off in ("0", "null"):
        project = load_project_text(
            f"store: {{retention: {{jobs_days: {off}}}}}\n", registry=fake_registry(), environ={}
        )
        assert project.spec.store.retention.jobs_age is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("-1", "store.retention.jobs_days: -1 days is out of range (0 to 36500"),
        ("30d", "store.retention.jobs_days: '30d' is not a number of days (a whole number"),
        ("1.5", "store.retention.jobs_days: 1.5 is not a number of days"),
        ("true", "store.retention.jobs_days: true is not a number of days"),
    ],
)
def test_a_bad_retention_is_refused_at_its_position(value: str, expected: str) -> None:
    text = f"name: x\nstore:\n  retention:\n    jobs_days: {value}\n"
    with pytest.raises(ConfigErrors) as caught:
        load_project_text(text, registry=fake_registry(), environ={})
    described = [e.describe() for e in caught.value.errors]
    assert len(described) == 1 and expected in described[0], described
    assert "erpbridge.yaml:4:16:" in described[0]
