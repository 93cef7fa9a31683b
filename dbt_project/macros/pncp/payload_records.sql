{#-
  Records of PNCP pages archived in the partition window, straight from the zstd
  payload store (`payloads/pncp/<sha[:2]>/<sha>.json.zst` beside the warehouse file, or
  beside the lake's data path).

  Only the window's bodies are read: their paths are listed at compile time from
  `raw.api_requests`, so a month never scans the whole store. Each body is parsed once
  with a typed `from_json` (every leaf as VARCHAR, so an odd value never fails the load;
  the staging model casts with try_cast and flags what did not cast).
-#}
{% macro pncp_payload_files(endpoints) %}
    {%- set placeholder_only = [] -%}
    {%- if not execute -%}{{ return(placeholder_only) }}{%- endif -%}
    {#- Side stores live beside the warehouse file, or beside the lake's data path: the
        code location exports that directory; dbt run by hand derives it from the file. -#}
    {%- set store_dir = env_var('DBT_WAREHOUSE_STORE_DIR', '') -%}
    {%- if not store_dir -%}
        {%- set store_dir = run_query(
            "select path from duckdb_databases() where database_name = current_database()"
        ).columns[0].values()[0].rsplit('/', 1)[0] -%}
    {%- endif -%}
    {%- set root = store_dir ~ '/payloads/pncp' -%}
    {%- set pages -%}
        select distinct payload_sha256 from {{ source('pncp_raw', endpoints[0]) }}
        where endpoint in ({{ "'" ~ endpoints | join("', '") ~ "'" }})
          and ingestion_date between {{ pncp_min_date() }} and {{ pncp_max_date() }}
          and payload_sha256 is not null
        order by 1
    {%- endset -%}
    {%- set files = [root ~ '/_/empty.json.zst'] -%}
    {%- for sha in run_query(pages).columns[0].values() -%}
        {%- do files.append(root ~ '/' ~ sha[:2] ~ '/' ~ sha ~ '.json.zst') -%}
    {%- endfor -%}
    {{ return(files) }}
{% endmacro %}


{#- One row per record: page columns, `record` (a struct of the given shape) and its
    position in the page. `shape` maps JSON field names to 'VARCHAR' or nested shapes. -#}
{% macro pncp_payload_records(endpoints, shape) %}
    {%- set files = pncp_payload_files(endpoints) -%}
    with pages as (
        {% for endpoint in endpoints %}
        select request_id, endpoint, ingestion_date, page, collected_at, payload_sha256
        from {{ source('pncp_raw', endpoint) }}
        where endpoint = '{{ endpoint }}'
          and ingestion_date between {{ pncp_min_date() }} and {{ pncp_max_date() }}
          and payload_sha256 is not null
        {% if not loop.last %}union all{% endif %}
        {% endfor %}
    ),

    bodies as (
        select
            regexp_extract(filename, '([0-9a-f]{64})\.json\.zst$', 1) as payload_sha256,
            from_json(json, '{{ tojson({"data": [shape]}) }}').data as records
        from read_json_objects(
            [{% for f in files %}'{{ f }}'{% if not loop.last %}, {% endif %}{% endfor %}],
            compression = 'zstd', filename = true
        )
    )

    select
        pages.*,
        unnest(bodies.records) as record,
        generate_subscripts(bodies.records, 1) as record_position
    from pages
    join bodies using (payload_sha256)
{% endmacro %}
