-- Price-registration minutes (AtaRegistroPrecoPeriodoDTO) from /v1/atas and its update
-- feed: one row per minute (numeroControlePNCPAta), latest version in the window.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='ingestion_month',
    on_schema_change='fail',
) }}

{{ pncp_latest(
    ref('stg_pncp__atas_versions'),
    key='numero_controle_pncp_ata',
    where='ingestion_date between ' ~ pncp_min_date() ~ ' and ' ~ pncp_max_date(),
) }}
