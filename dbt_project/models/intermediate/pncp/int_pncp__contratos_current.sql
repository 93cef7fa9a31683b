-- Every contract's latest version across all archived months (staging keeps the latest
-- per month; an update feed in a later month supersedes it here).
{{ config(materialized='view') }}

select
    *,
    coalesce(
        date_trunc('month', timezone('America/Sao_Paulo', data_publicacao_pncp)),
        ingestion_month
    )::date as mes_publicacao
from {{ ref('stg_pncp__contratos') }}
qualify numero_controle_pncp is null or row_number() over (
    partition by numero_controle_pncp
    order by data_atualizacao desc nulls last, ingestion_date desc,
        source_endpoint, source_page, source_position
) = 1
