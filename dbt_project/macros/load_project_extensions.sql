{#
  `dbt run-operation load_project_extensions`: loads, by name, every DuckDB extension the
  project installs offline (project/lib/extensions.py), from the directory the profile's
  config_options give. A check that dbt sees them; nothing is downloaded.
#}
{% macro load_project_extensions(names=['ducklake', 'postgres_scanner', 'mysql_scanner', 'excel', 'sqlite_scanner']) %}
  {% for name in names %}
    {% do run_query('LOAD ' ~ name) %}
  {% endfor %}
  {% set loaded = run_query(
      "select extension_name from duckdb_extensions() where loaded and extension_name in ('"
      ~ names | join("', '") ~ "') order by 1"
  ) %}
  {{ log('loaded: ' ~ loaded.columns[0].values() | join(', '), info=True) }}
{% endmacro %}
