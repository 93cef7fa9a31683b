-- Suppliers (niFornecedor: CNPJ, CPF or a foreign id) of contracts; the latest name wins.
select
    md5('fornecedor|' || ni_fornecedor) as fornecedor_key,
    ni_fornecedor,
    arg_max(nome_razao_social_fornecedor, data_atualizacao) as nome_razao_social,
    arg_max(tipo_pessoa, data_atualizacao) as tipo_pessoa,
    arg_max(codigo_pais_fornecedor, data_atualizacao) as codigo_pais,
    count(*) as contract_versions
from {{ ref('stg_pncp__contratos') }}
where ni_fornecedor is not null
group by ni_fornecedor
