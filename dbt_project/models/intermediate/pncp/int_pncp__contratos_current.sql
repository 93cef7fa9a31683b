-- Every contract's latest version across all archived months (staging keeps the latest
-- per month; an update feed in a later month supersedes it here), with its month of
-- publication in Brasília time.
{{ config(materialized='view') }}

select
    *,
    coalesce(
        date_trunc('month', timezone('America/Sao_Paulo', data_publicacao_pncp)),
        ingestion_month
    )::date as mes_publicacao
from ({{ pncp_latest(ref('stg_pncp__contratos'), key='numero_controle_pncp') }})
