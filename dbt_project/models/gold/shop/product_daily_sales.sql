-- Daily units and revenue per product, from the lines of the orders placed that day that
-- are not cancelled. Incremental by day (macros/shop/gold.sql).
-- depends_on: {{ ref('orders') }}
{{ config(**shop_day_grain_config('orders = 0', ['fct_orders'])) }}

with days as (
    {%- if is_incremental() %}
    {{ shop_order_days_changed(this.name) | indent(4) }}
    {%- else %}
    select distinct order_date as event_date from {{ ref('fct_orders') }}
    {%- endif %}
),

lines as (
    select orders.order_date, items.order_id, items.product_id, items.quantity, items.unit_price
    from {{ ref('fct_orders') }} as orders
    join {{ ref('order_items') }} as items using (order_id)
    where orders.order_date in (select event_date from days)
      and orders.status <> 'cancelled'
)

select
    days.event_date,
    lines.product_id,
    count(distinct lines.order_id) as orders,
    coalesce(sum(lines.quantity), 0)::bigint as units,
    coalesce(sum(lines.quantity * lines.unit_price), 0)::decimal(18, 2) as revenue,
    {{ shop_load_id() }}::bigint as _load_id
from days
left join lines on lines.order_date = days.event_date
group by all
