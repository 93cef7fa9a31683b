-- Contracts (RecuperarContratoDTO) from /v1/contratos and its update feed: one row per
-- contract (numeroControlePNCP), latest version seen in the window.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='ingestion_month',
    on_schema_change='fail',
) }}

{{ pncp_latest(
    ref('stg_pncp__contratos_versions'),
    key='numero_controle_pncp',
    where='ingestion_date between ' ~ pncp_min_date() ~ ' and ' ~ pncp_max_date(),
) }}
