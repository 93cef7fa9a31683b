{#-
  The body of a PNCP staging model: the family's records archived in the window, typed,
  with only the latest version of each record (by `key`, newest `dataAtualizacao`; ties go
  to the latest archived day, then a fixed page order, so the result is deterministic).
  A record without its key is kept, so the key's ERROR test sees it.

  Two passes over the payloads, on purpose: the first reads only the key and
  `dataAtualizacao` of every version and picks the latest by a window over those narrow
  rows; the second types only those versions. Ranking the typed rows themselves holds a
  month of every column in memory (2.4 GB for a 10x month, against 1.3 GB this way) for
  about the same time.
-#}
{% macro pncp_staging_model(endpoints, key, specs) -%}
    {%- set shape = pncp_shape(specs | map(attribute=1) | map('replace', 'record.', '') | list) -%}
    {%- set key_spec = pncp_spec(specs, key) -%}
    {%- set updated_spec = pncp_spec(specs, 'data_atualizacao') -%}
    {%- set version_shape = pncp_shape(
        [key_spec[1], updated_spec[1]] | map('replace', 'record.', '') | list) -%}
with versions as (
    select
        request_id,
        record_position,
        {{ pncp_cast(key_spec[1], key_spec[2]) }} as record_key,
        {{ pncp_cast(updated_spec[1], updated_spec[2]) }} as data_atualizacao,
        ingestion_date,
        endpoint,
        page
    from ({{ pncp_payload_records(endpoints, version_shape) }})
),

latest as (
    select request_id, record_position
    from versions
    where record_key is not null
    qualify row_number() over (
        partition by record_key
        order by data_atualizacao desc nulls last, ingestion_date desc,
            endpoint, page, record_position
    ) = 1
),

records as (
    select records.*
    from ({{ pncp_payload_records(endpoints, shape) }}) as records
    left join latest using (request_id, record_position)
    where latest.request_id is not null or {{ pncp_cast(key_spec[1], key_spec[2]) }} is null
),

typed as (
    select
        {{ pncp_typed_columns(specs) }},
        endpoint as source_endpoint,
        ingestion_date,
        date_trunc('month', ingestion_date)::date as ingestion_month,
        request_id as source_request_id,
        payload_sha256 as source_payload_sha256,
        page as source_page,
        record_position as source_position,
        collected_at
    from records
)

select * from typed
{%- endmacro %}


{#- The [name, expression, type] spec of column `name`. -#}
{% macro pncp_spec(specs, name) -%}
    {%- for spec in specs if spec[0] == name -%}
        {{ return(spec) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("no PNCP staging column named " ~ name) }}
{%- endmacro %}
