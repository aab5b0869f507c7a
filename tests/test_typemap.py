"""The rule table and the refinements sampling makes."""

from __future__ import annotations

import pytest

from cutover.config import ColumnOverride, Settings
from cutover.schema.model import Column, ColumnProfile, Table
from cutover.schema.naming import Namer, shorten, snake_case
from cutover.schema.sqltext import translate_default, translate_expression
from cutover.schema.typemap import declared_rule, plan_column, wanted_stats


@pytest.mark.parametrize(
    "declared, pg_type",
    [
        ("INTEGER", "integer"),
        ("int(11)", "integer"),
        ("BIGINT", "bigint"),
        ("UNSIGNED BIG INT", "bigint"),
        ("tinyint(1)", "boolean"),
        ("tinyint(4)", "smallint"),
        ("SMALLINT", "smallint"),
        ("REAL", "double precision"),
        ("DOUBLE PRECISION", "double precision"),
        ("FLOAT", "double precision"),
        ("NUMERIC(10, 2)", "numeric(10,2)"),
        ("DECIMAL(7)", "numeric(7)"),
        ("NUMERIC", "numeric"),
        ("BOOLEAN", "boolean"),
        ("DATETIME", "timestamp"),
        ("TIMESTAMP", "timestamp"),
        ("TIMESTAMPTZ", "timestamptz"),
        ("DATE", "date"),
        ("TIME", "time"),
        ("VARCHAR(200)", "varchar(200)"),
        ("NVARCHAR(50)", "varchar(50)"),
        ("CHARACTER VARYING (30)", "varchar(30)"),
        ("CHAR(5)", "varchar(5)"),
        ("TEXT", "text"),
        ("CLOB", "text"),
        ("VARCHAR", "text"),
        ("BLOB", "bytea"),
        ("JSON", "jsonb"),
        ("UUID", "uuid"),
    ],
)
def test_rule_table(declared, pg_type):
    rule = declared_rule(declared)
    assert rule is not None and rule[0] == pg_type


APPLY = Settings(infer_types="apply")


def _plan(declared, profile, name="c", settings=APPLY, override=None, table=None, samples=None):
    col = Column(name, declared)
    table = table or Table(
        "t", [Column("id", "INTEGER"), col], primary_key=["id"], rowid_alias="id"
    )
    return plan_column(table, col, profile, settings, override, name, samples)


@pytest.mark.parametrize(
    ("profile", "pg_type"),
    [
        (ColumnProfile(texts=3), "text"),
        (ColumnProfile(blobs=3), "bytea"),
        (ColumnProfile(), "text"),
    ],
)
def test_unknown_type_is_typed_by_its_values_and_reported(profile, pg_type):
    plan, findings = _plan("GEOMETRY", profile)  # a SpatiaLite POINT column holds blobs
    assert plan.pg_type == pg_type and plan.reason == "sampled"
    assert [f.code for f in findings] == ["unknown_type"]


def test_integer_primary_key_is_bigint_identity():
    col = Column("id", "INTEGER", nullable=False)
    table = Table("t", [col], primary_key=["id"], rowid_alias="id")
    plan, _ = plan_column(
        table, col, ColumnProfile(integers=5, min_int=1, max_int=5), Settings(), None, "id"
    )
    assert (plan.pg_type, plan.identity, plan.coercion) == ("bigint", True, "identity")


def test_type_changes_are_only_suggested_by_default():
    plan, findings = _plan("TEXT", ColumnProfile(texts=10, json_containers=10), settings=Settings())
    assert (plan.pg_type, plan.reason) == ("text", "declared")
    (finding,) = findings
    assert finding.code == "suggested_type" and '"jsonb"' in finding.fix
    plan, findings = _plan(
        "INTEGER",
        ColumnProfile(integers=8, zero_one=8, min_int=0, max_int=1),
        name="is_pinned",
        settings=Settings(),
    )
    assert plan.pg_type == "integer" and [f.code for f in findings] == ["suggested_type"]
    plan, _ = _plan("", ColumnProfile(texts=3, json_containers=3), settings=Settings())
    assert plan.pg_type == "jsonb"  # no declared type: nothing for the app to keep
    plan, _ = _plan("INT", ColumnProfile(integers=2, min_int=0, max_int=2**40), settings=Settings())
    assert plan.pg_type == "bigint"  # widening never changes what the app reads


def test_uuid_text_suggested_as_uuid():
    plan, findings = _plan(
        "CHAR(32)", ColumnProfile(texts=4, uuid_like=4, max_text_length=32), settings=Settings()
    )
    assert plan.pg_type == "varchar(32)" and '"uuid"' in findings[0].fix
    plan, _ = _plan("CHAR(32)", ColumnProfile(texts=4, uuid_like=4, max_text_length=32))
    assert plan.pg_type == "uuid"


def test_json_text_refined_to_jsonb_only_when_every_value_is_json():
    plan, _ = _plan("TEXT", ColumnProfile(texts=10, json_containers=10))
    assert (plan.pg_type, plan.reason) == ("jsonb", "sampled") and "JSON" in plan.why
    plan, _ = _plan("TEXT", ColumnProfile(texts=10, json_containers=9))
    assert plan.pg_type == "text"


def test_flag_named_zero_one_integers_become_boolean():
    plan, _ = _plan(
        "INTEGER", ColumnProfile(integers=8, zero_one=8, min_int=0, max_int=1), name="is_active"
    )
    assert (plan.pg_type, plan.reason) == ("boolean", "sampled")
    plan, _ = _plan(
        "INTEGER", ColumnProfile(integers=8, zero_one=8, min_int=0, max_int=1), name="retries"
    )
    assert plan.pg_type == "integer"


def test_iso_text_refined_to_timestamp_or_date():
    stamps = ["2024-01-02 03:04:05", "2024-02-03T04:05:06.123456"]
    plan, _ = _plan("TEXT", ColumnProfile(texts=2, iso_dates=2), samples=stamps)
    assert (plan.pg_type, plan.reason) == ("timestamp", "sampled")
    plan, _ = _plan(
        "TEXT",
        ColumnProfile(texts=2, iso_dates=2, tz_offsets=2),
        samples=[s + "+09:00" for s in stamps],
    )
    assert plan.pg_type == "timestamptz"
    plan, _ = _plan(
        "", ColumnProfile(texts=2, iso_dates=2, date_only=2), samples=["2024-01-02", "2024-01-03"]
    )
    assert plan.pg_type == "date"  # untyped columns are refined like TEXT ones
    plan, _ = _plan(
        "TEXT",
        ColumnProfile(texts=2, iso_dates=2, date_only=2),
        samples=["2024-01-02", "2024-01-03"],
    )
    assert plan.pg_type == "date"
    plan, _ = _plan(
        "TEXT",
        ColumnProfile(texts=2, iso_dates=2, date_only=1),
        samples=["2024-01-02", "2024-01-03 10:00"],
    )
    assert plan.pg_type == "timestamp"  # never date when one value has a time of day


@pytest.mark.parametrize(
    "value, unit", [(1_700_000_000, "seconds"), (1_700_000_000_123, "milliseconds")]
)
def test_epoch_in_datetime_column_detected_and_said(value, unit):
    plan, findings = _plan(
        "DATETIME",
        ColumnProfile(integers=4, min_num=value, max_num=value, min_int=value, max_int=value),
    )
    assert plan.options["epoch"] == unit and plan.coercion == "timestamp"
    assert any(f.code == "epoch_detected" and unit in f.message for f in findings)


def test_integer_widened_when_values_exceed_32_bits():
    plan, _ = _plan("INT", ColumnProfile(integers=2, min_int=0, max_int=2**40))
    assert (plan.pg_type, plan.reason) == ("bigint", "sampled")


def test_override_wins_over_declaration_and_data():
    plan, _ = _plan(
        "TEXT",
        ColumnProfile(texts=2, json_containers=2),
        override=ColumnOverride(type="varchar(30)"),
    )
    assert (plan.pg_type, plan.reason) == ("varchar(30)", "override")


def test_over_length_values_get_a_checking_coercion_and_a_finding():
    plan, findings = _plan("VARCHAR(5)", ColumnProfile(texts=2, max_text_length=9))
    assert (
        plan.pg_type == "varchar(5)" and plan.coercion == "text" and plan.options["max_length"] == 5
    )
    assert [f.code for f in findings] == ["over_length"]


def test_clean_columns_need_no_coercion():
    for declared, profile in [
        ("INTEGER", ColumnProfile(integers=5, min_int=1, max_int=9)),
        ("TEXT", ColumnProfile(texts=5, max_text_length=4, nul_chars=0)),
        ("VARCHAR(10)", ColumnProfile(texts=5, max_text_length=10, nul_chars=0)),
        ("BLOB", ColumnProfile(blobs=5)),
        ("REAL", ColumnProfile(reals=3, integers=2)),
        ("BOOLEAN", ColumnProfile(integers=4, zero_one=4)),
    ]:
        plan, _ = _plan(declared, profile)
        assert plan.coercion == "identity", declared


def test_text_not_scanned_for_nuls_is_checked_by_the_load_a_batch_at_a_time():
    plan, findings = _plan(
        "VARCHAR(10)", ColumnProfile(texts=5, max_text_length=10)
    )  # nul_chars None: a load's profile
    assert (plan.coercion, plan.options["guard"], plan.options["max_length"]) == (
        "text",
        "plain_text",
        10,
    )
    assert findings == []
    assert "nul" not in wanted_stats(Column("c", "TEXT"), Settings(), None, nul_in_load=True)
    assert "nul" in wanted_stats(
        Column("c", "TEXT"), Settings(), None
    )  # `cutover plan` counts them


@pytest.mark.parametrize(
    "declared, settings, guard",
    [
        ("DATETIME", APPLY, "iso_naive"),
        ("DATE", APPLY, "iso_date"),
        ("DATETIME", Settings(timestamps="timestamptz"), "iso_offset"),
    ],
)
def test_date_text_is_guarded_per_batch_not_scanned(declared, settings, guard):
    """Text dates need no profile scan: the loader passes batches of the guard's form untouched."""
    plan, _ = _plan(declared, ColumnProfile(texts=4), settings=settings)
    assert plan.options["guard"] == guard and plan.coercion in ("timestamp", "timestamptz", "date")
    epochs, _ = _plan(
        declared,
        ColumnProfile(texts=2, integers=2, min_num=1.7e9, max_num=1.8e9),
        settings=settings,
    )
    assert "guard" not in epochs.options and epochs.options["epoch"] == "seconds"


@pytest.mark.parametrize(
    "default, pg_type, expected",
    [
        ("CURRENT_TIMESTAMP", "timestamp", "timezone('utc', now())"),
        ("(datetime('now'))", "timestamptz", "now()"),
        ("0", "boolean", "false"),
        ("'1'", "boolean", "true"),
        ("'ko-KR'", "char(5)", "'ko-KR'"),
        ("-1.5", "double precision", "-1.5"),
        ("'{}'", "jsonb", "'{}'::jsonb"),
        ("NULL", "text", None),
    ],
)
def test_defaults_translated_where_they_mean_the_same(default, pg_type, expected):
    assert translate_default(default, pg_type).sql == expected


def test_defaults_without_equivalent_are_reported():
    result = translate_default("random()", "bigint")
    assert result.sql is None and "random()" in (result.reason or "")


def test_expression_translation_is_conservative():
    quote = {"deleted": '"deleted"', "Email": '"Email"'}.get
    assert (
        translate_expression("deleted = 0 AND Email IS NOT NULL", quote, {"deleted"})
        == '"deleted" = false AND "Email" IS NOT NULL'
    )
    assert translate_expression("lower(Email)", quote) == 'lower("Email")'
    assert translate_expression("json_extract(Email, '$.a')", quote) is None
    assert translate_expression("unknown_col = 1", quote) is None


def test_names_snake_case_and_shortening():
    assert snake_case("UserAccount") == "user_account"
    assert snake_case("Order Details") == "order_details"
    assert snake_case("HTTPRequestLog") == "http_request_log"
    long = "a_really_long_table_name_" * 4
    short = shorten(long)
    assert len(short.encode()) == 63 and short == shorten(long) and short != shorten(long + "x")
    korean = "사용자_대화_기록_" * 6
    assert len(shorten(korean).encode()) <= 63
    namer = Namer(snake=True)
    assert namer.name("UserId", "column") == "user_id"
    assert namer.name("user_id", "column") == "user_id_2"
    assert ("column", "UserId", "user_id") in namer.changes


def test_rule_table_is_documented():
    from pathlib import Path

    from cutover.schema.typemap import RULES

    doc = (Path(__file__).parent.parent / "docs" / "typemap.md").read_text(encoding="utf-8")
    for rule in RULES:
        base = rule.pg_type.split("(")[0]
        assert f"`{base}" in doc, rule
