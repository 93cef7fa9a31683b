-- Daily orders and revenue by the customer's segment and state AS THEY WERE when they
-- ordered (fct_orders' customer version): a customer who moved counts in their old state
-- before the move and in the new one after. Incremental by day (macros/shop/gold.sql).
-- depends_on: {{ ref('orders') }}
{{ config(**shop_day_grain_config('orders = 0', ['fct_orders'])) }}

with days as (
    {%- if is_incremental() %}
    {{ shop_order_days_changed(this.name) | indent(4) }}
    {%- else %}
    select distinct order_date as event_date from {{ ref('fct_orders') }}
    {%- endif %}
)

select
    days.event_date,
    orders.customer_segment,
    orders.customer_state,
    count(orders.order_id) as orders,
    count(orders.order_id) filter (where orders.is_cancelled) as cancelled_orders,
    count(distinct orders.customer_id) as buyers,
    coalesce(sum(orders.revenue), 0)::decimal(18, 2) as revenue,
    {{ shop_load_id() }}::bigint as _load_id
from days
left join {{ ref('fct_orders') }} as orders on orders.order_date = days.event_date
group by all
