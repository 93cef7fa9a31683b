{#-
  The days a day-grain gold model recomputes in a run: those of the orders (sessions)
  rewritten upstream since its last run — their day now, and every day one of their
  events falls on, so a day an order or session has left (a late event moved its start
  earlier) is recomputed too. A recomputed day with nothing left is written as a
  placeholder row (so delete+insert replaces the day's old rows) and removed by the
  model's post-hook (`shop_drop_placeholders`). See macros/shop/incremental.sql.
-#}

{% macro shop_order_days_changed(consumer) -%}
select order_date as event_date
from {{ ref('fct_orders') }}
where _load_id > {{ shop_mark(consumer, 'fct_orders') }}
union
select event_date
from {{ ref('orders') }}
where order_id in ({{ shop_gold_changed(consumer, 'fct_orders', ['order_id']) }})
{%- endmacro %}

{% macro shop_session_days_changed(consumer) -%}
select session_date as event_date
from {{ ref('fct_sessions') }}
where _load_id > {{ shop_mark(consumer, 'fct_sessions') }}
union
select event_date
from {{ ref('web_events') }}
where session_id in ({{ shop_gold_changed(consumer, 'fct_sessions', ['session_id']) }})
{%- endmacro %}

{#- The body of `config()` shared by the day-grain gold models. -#}
{% macro shop_day_grain_config(placeholder, gold) %}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'delete+insert',
        'unique_key': 'event_date',
        'on_schema_change': 'fail',
        'pre_hook': "{{ shop_ops_tables() }}",
        'post_hook': [
            "{{ shop_drop_placeholders(" ~ (placeholder | tojson) ~ ") }}",
            "{{ shop_record_marks(gold=" ~ (gold | tojson) ~ ") }}",
        ],
    }) }}
{% endmacro %}
