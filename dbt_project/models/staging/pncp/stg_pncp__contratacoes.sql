-- Procurements (RecuperarCompraPublicacaoDTO) from /v1/contratacoes/publicacao and its
-- update feed: one row per procurement (numeroControlePNCP), latest version in the window.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='ingestion_month',
    on_schema_change='fail',
) }}

{{ pncp_latest(
    ref('stg_pncp__contratacoes_versions'),
    key='numero_controle_pncp',
    where='ingestion_date between ' ~ pncp_min_date() ~ ' and ' ~ pncp_max_date(),
) }}
