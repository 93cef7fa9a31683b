-- Administrative units (unidadeOrgao) of each public body; the latest attributes win.
with mentions as (
    select orgao_cnpj, unidade_codigo, unidade_nome, unidade_uf_sigla, unidade_uf_nome,
        unidade_municipio_nome, unidade_codigo_ibge, data_atualizacao
    from {{ ref('stg_pncp__contratos') }}
    union all
    select orgao_cnpj, unidade_codigo, unidade_nome, unidade_uf_sigla, unidade_uf_nome,
        unidade_municipio_nome, unidade_codigo_ibge, data_atualizacao
    from {{ ref('stg_pncp__contratacoes') }}
    union all
    select orgao_cnpj, unidade_codigo, unidade_nome, null, null, null, null, data_atualizacao
    from {{ ref('stg_pncp__atas') }}
)

select
    md5('unidade|' || orgao_cnpj || '|' || unidade_codigo) as unidade_key,
    md5('orgao|' || orgao_cnpj) as orgao_key,
    orgao_cnpj,
    unidade_codigo,
    arg_max(unidade_nome, data_atualizacao) as nome,
    arg_max(unidade_uf_sigla, data_atualizacao)
        filter (where unidade_uf_sigla is not null) as uf_sigla,
    arg_max(unidade_uf_nome, data_atualizacao)
        filter (where unidade_uf_nome is not null) as uf_nome,
    arg_max(unidade_municipio_nome, data_atualizacao)
        filter (where unidade_municipio_nome is not null) as municipio_nome,
    arg_max(unidade_codigo_ibge, data_atualizacao)
        filter (where unidade_codigo_ibge is not null) as codigo_ibge
from mentions
where orgao_cnpj is not null and unidade_codigo is not null
group by orgao_cnpj, unidade_codigo
