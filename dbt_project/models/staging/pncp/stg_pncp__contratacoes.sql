-- Procurements (RecuperarCompraPublicacaoDTO) from /v1/contratacoes/publicacao and its
-- update feed: one row per procurement (numeroControlePNCP), latest version in its ingestion month.
-- A view of the flagged rows of the versions model (see macros/pncp/staging_model.sql).
{{ config(materialized='view') }}

select * exclude (is_latest_version)
from {{ ref('stg_pncp__contratacoes_versions') }}
where is_latest_version or numero_controle_pncp is null
