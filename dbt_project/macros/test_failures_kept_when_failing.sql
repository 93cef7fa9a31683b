{#- dbt's own test materialization (dbt-core 1.11, global_project/macros/materializations/
    tests/test.sql), changed in one respect: with `store_failures`, a test's failing rows are
    stored only when there are some, and the table a test left when it last failed is
    dropped once it passes. dbt's stores every test's rows, an empty table for each passing
    test: on a DuckLake every such table is a catalog commit after which the next statement
    reloads the catalog (~0.2 s a test against ~0.05 s; 79 tests in a PNCP month), and the
    audit schema fills with empty tables. Inspecting is unchanged: `audit.<test>` holds the
    failing rows of a test that fails, as the dataset layer's audit files do. -#}
{%- materialization test, default -%}

  {% set relations = [] %}
  {% set limit = config.get('limit') %}
  {% set sql_header = config.get('sql_header') if flags.REQUIRE_SQL_HEADER_IN_TEST_CONFIGS else none %}
  {% set fail_calc = config.get('fail_calc') %}
  {% set warn_if = config.get('warn_if') %}
  {% set error_if = config.get('error_if') %}

  {% set sql_with_limit %}
    {{ get_limit_subquery_sql(sql, limit) }}
  {% endset %}

  {% call statement('main', fetch_result=True) -%}
    {% if sql_header %}{{ sql_header }}{% endif %}
    {{ get_test_sql(sql_with_limit, fail_calc, warn_if, error_if, limit=none) }}
  {%- endcall %}

  {% if should_store_failures() %}
    {% set failures = load_result('main')['table'].rows[0][0] %}
    {% set failing = failures is not none and failures != 0 %}
    {% set identifier = model['alias'] %}
    {% set old_relation = adapter.get_relation(database=database, schema=schema, identifier=identifier) %}

    {% set store_failures_as = config.get('store_failures_as') %}
    {% if store_failures_as == none %}{% set store_failures_as = 'table' %}{% endif %}
    {% if store_failures_as not in ['table', 'view'] %}
        {{ exceptions.raise_compiler_error(
            "'" ~ store_failures_as ~ "' is not a valid value for `store_failures_as`. "
            "Accepted values are: ['ephemeral', 'table', 'view']"
        ) }}
    {% endif %}

    {% if old_relation %}
        {% do adapter.drop_relation(old_relation) %}
    {% endif %}

    {% if failing %}
      {% set target_relation = api.Relation.create(
          identifier=identifier, schema=schema, database=database, type=store_failures_as) -%}
      {% call statement(auto_begin=True) %}
          {% if sql_header %}{{ sql_header }}{% endif %}
          {{ get_create_sql(target_relation, sql_with_limit) }}
      {% endcall %}
      {% do relations.append(target_relation) %}
    {% endif %}

    {% if old_relation or failing %}
      {{ adapter.commit() }}
    {% endif %}
  {% endif %}

  {{ return({'relations': relations}) }}

{%- endmaterialization -%}
