-- The shop's daily KPIs (UTC day): orders, revenue, average order value, buyers, and
-- conversion from web sessions (sessions with an order / sessions, by the day the session
-- started). Incremental by day: a run recomputes the days of the orders and sessions
-- rewritten since its last run (macros/shop/gold.sql).
-- depends_on: {{ ref('orders') }} {{ ref('web_events') }}
{{ config(**shop_day_grain_config('orders = 0 and sessions = 0', ['fct_orders', 'fct_sessions'])) }}

with days as (
    {%- if is_incremental() %}
    {{ shop_order_days_changed(this.name) | indent(4) }}
    union
    {{ shop_session_days_changed(this.name) | indent(4) }}
    {%- else %}
    select order_date as event_date from {{ ref('fct_orders') }}
    union
    select session_date from {{ ref('fct_sessions') }}
    {%- endif %}
),

orders_by_day as (
    select
        order_date as event_date,
        count(*) as orders,
        count(*) filter (where is_cancelled) as cancelled_orders,
        count(distinct customer_id) as buyers,
        sum(items) filter (where status <> 'cancelled') as items,
        sum(revenue) as revenue
    from {{ ref('fct_orders') }}
    where order_date in (select event_date from days)
    group by order_date
),

sessions_by_day as (
    select
        session_date as event_date,
        count(*) as sessions,
        count(*) filter (where converted) as converted_sessions
    from {{ ref('fct_sessions') }}
    where session_date in (select event_date from days)
    group by session_date
)

select
    days.event_date,
    coalesce(orders_by_day.orders, 0) as orders,
    coalesce(orders_by_day.cancelled_orders, 0) as cancelled_orders,
    coalesce(orders_by_day.buyers, 0) as buyers,
    coalesce(orders_by_day.items, 0)::bigint as items,
    coalesce(orders_by_day.revenue, 0)::decimal(18, 2) as revenue,
    (orders_by_day.revenue / nullif(orders_by_day.orders - orders_by_day.cancelled_orders, 0))
        ::decimal(18, 2) as average_order_value,
    coalesce(sessions_by_day.sessions, 0) as sessions,
    coalesce(sessions_by_day.converted_sessions, 0) as converted_sessions,
    (sessions_by_day.converted_sessions / nullif(sessions_by_day.sessions, 0))::decimal(9, 4)
        as conversion_rate,
    {{ shop_load_id() }}::bigint as _load_id
from days
left join orders_by_day using (event_date)
left join sessions_by_day using (event_date)
