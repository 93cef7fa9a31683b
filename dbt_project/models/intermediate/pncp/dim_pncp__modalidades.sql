-- Procurement modalities: the manual's domain table (seed), plus codes seen in the data
-- that the manual does not list (flagged, never dropped).
with seen as (
    select modalidade_id, arg_max(modalidade_nome, data_atualizacao) as modalidade_nome
    from {{ ref('stg_pncp__contratacoes') }}
    where modalidade_id is not null
    group by modalidade_id
)

select
    coalesce(manual.modalidade_id, seen.modalidade_id) as modalidade_id,
    coalesce(manual.modalidade_nome, seen.modalidade_nome) as modalidade_nome,
    manual.modalidade_id is not null as listed_in_manual
from {{ ref('pncp_modalidades') }} as manual
full outer join seen on manual.modalidade_id = seen.modalidade_id
