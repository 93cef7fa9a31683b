{#-
  The operational tables the shop's silver run reads and writes beside its models (the
  contract's shop_ops schema). project/lib/shop/quarantine.py creates the same tables
  from Python (the CLI writes replay requests before any dbt run); a test keeps the two
  definitions equal.

  - expectation_log: one row per rule per dataset per run (bronze and silver write it);
  - replay_requests: `pncp quarantine replay` asks the next silver run to re-evaluate the
    quarantined rows of a rule;
  - silver_watermarks: the highest bronze `_batch` each consumer of a checked window
    (a silver model, the quarantine) has taken in, appended in the consumer's own
    transaction, so a consumer that failed or did not run is fed the same rows again;
  - cdc_watermarks: the same for the dimensions and gold models, per upstream model
    (macros/shop/incremental.sql).
-#}
{% macro shop_ops_tables() %}
create schema if not exists shop_ops;
create table if not exists shop_ops.expectation_log (
    run_id varchar,
    recorded_at timestamptz,
    layer varchar,
    dataset varchar,
    rule varchar,
    action varchar,
    passed bigint,
    failed bigint
);
create table if not exists shop_ops.replay_requests (
    request_id varchar,
    rule varchar,
    source varchar,
    requested_at timestamptz,
    status varchar,
    run_id varchar
);
create table if not exists shop_ops.silver_watermarks (
    consumer varchar,
    source varchar,
    batch bigint,
    run_id varchar,
    recorded_at timestamptz
);
create table if not exists shop_ops.cdc_watermarks (
    consumer varchar,
    upstream varchar,
    mark bigint,
    run_id varchar,
    recorded_at timestamptz
)
{% endmacro %}

{#- The run's id: Dagster's run id (SHOP_RUN_ID, set by the shop's dbt asset), else dbt's
    invocation id. An environment variable, not `--vars`: a new value of a var makes dbt
    re-parse the whole project (~2-3 s a run), of an environment variable only the files
    that read it. -#}
{% macro shop_run_id() -%}
    {{- env_var('SHOP_RUN_ID', invocation_id) -}}
{%- endmacro %}
