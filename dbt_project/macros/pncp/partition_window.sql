{#- The partition window: Dagster sets PNCP_MIN_DATE and PNCP_MAX_DATE for its run (a
    month, or several in one backfill run); environment variables rather than --vars,
    whose new value every month made dbt re-parse the whole project. By hand, --vars
    {min_date, max_date} works too; with neither, every day is in the window. -#}
{% macro pncp_min_date() %}'{{ env_var("PNCP_MIN_DATE", var("min_date", "1900-01-01")) }}'::date{% endmacro %}
{% macro pncp_max_date() %}'{{ env_var("PNCP_MAX_DATE", var("max_date", "2999-12-31")) }}'::date{% endmacro %}

{#- The window's months, for marts keyed by a month column. -#}
{% macro pncp_in_window(column) -%}
    {{ column }} between date_trunc('month', {{ pncp_min_date() }})
        and {{ pncp_max_date() }}
{%- endmacro %}
