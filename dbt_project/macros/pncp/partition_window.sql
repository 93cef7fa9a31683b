{#- The partition window Dagster passes as --vars (a month, or several in one backfill run).
    Without vars (a plain `dbt build`) every day is in the window. -#}
{% macro pncp_min_date() %}'{{ var("min_date", "1900-01-01") }}'::date{% endmacro %}
{% macro pncp_max_date() %}'{{ var("max_date", "2999-12-31") }}'::date{% endmacro %}

{#- The window's months, for marts keyed by a month column. -#}
{% macro pncp_in_window(column) -%}
    {{ column }} between date_trunc('month', {{ pncp_min_date() }})
        and {{ pncp_max_date() }}
{%- endmacro %}
