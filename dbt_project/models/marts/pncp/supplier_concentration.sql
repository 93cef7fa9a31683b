-- How concentrated each public body's contracting is, per month: its top 10 suppliers by
-- contracted value, each supplier's share of the body's value, and the body's
-- Herfindahl-Hirschman index (0-10,000) over all its suppliers.
with by_supplier as (
    select
        mes_publicacao, orgao_key, orgao_cnpj, fornecedor_key, ni_fornecedor,
        any_value(nome_razao_social_fornecedor) as nome_razao_social_fornecedor,
        count(*) as contracts,
        coalesce(sum(valor_global), 0) as valor_global
    from {{ ref('contratos_mes') }}
    where {{ pncp_in_window('mes_publicacao') }}
        and orgao_cnpj is not null and ni_fornecedor is not null
    group by all
),

shares as (
    select
        *,
        sum(valor_global) over organ as organ_valor_global,
        count(*) over organ as organ_suppliers,
        case when sum(valor_global) over organ > 0
            then valor_global / sum(valor_global) over organ end as share_of_organ_value,
        row_number() over (organ order by valor_global desc, ni_fornecedor) as supplier_rank
    from by_supplier
    window organ as (partition by mes_publicacao, orgao_key)
)

select
    * exclude (share_of_organ_value),
    round(share_of_organ_value, 6)::double as share_of_organ_value,
    round(sum(power(share_of_organ_value * 100, 2)) over (
        partition by mes_publicacao, orgao_key), 2)::double as organ_hhi
from shares
qualify supplier_rank <= 10
order by mes_publicacao, orgao_cnpj, supplier_rank
