-- One row per customer: orders, revenue and average order value over their whole life,
-- first and last order, with their current (or last, when deleted) attributes.
-- Incremental by customer: a run recomputes the customers whose orders or history were
-- rewritten since its last run (macros/shop/incremental.sql).
-- depends_on: {{ ref('orders') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='customer_id',
    on_schema_change='fail',
    pre_hook="{{ shop_ops_tables() }}",
    post_hook=[
        "{{ shop_drop_placeholders('orders = 0 and customer_since is null') }}",
        "{{ shop_record_marks(gold=['fct_orders', 'dim_customer']) }}",
    ],
) }}

with touched as (
    {%- if is_incremental() %}
    {{ shop_gold_changed(this.name, 'fct_orders', ['customer_id']) | indent(4) }}
    union
    -- an order's customer before it was rewritten (its events name them)
    select customer_id from {{ ref('orders') }}
    where order_id in ({{ shop_gold_changed(this.name, 'fct_orders', ['order_id']) }})
    union
    {{ shop_gold_changed(this.name, 'dim_customer', ['customer_id']) | indent(4) }}
    {%- else %}
    select customer_id from {{ ref('fct_orders') }}
    union
    select customer_id from {{ ref('dim_customer') }}
    {%- endif %}
),

customers as (
    select distinct customer_id from touched where customer_id is not null
),

last_versions as (
    select customer_id, customer_version_id, name, city, state, segment, is_current
    from {{ ref('dim_customer') }}
    where customer_id in (select customer_id from customers)
    qualify row_number() over (partition by customer_id order by start_seq desc) = 1
),

histories as (
    select customer_id, min(valid_from) as customer_since, count(*) as versions
    from {{ ref('dim_customer') }}
    where customer_id in (select customer_id from customers)
    group by customer_id
),

order_totals as (
    select
        customer_id,
        count(*) as orders,
        count(*) filter (where is_cancelled) as cancelled_orders,
        sum(revenue) as revenue,
        sum(paid_amount) as paid_amount,
        min(placed_at) as first_order_at,
        max(placed_at) as last_order_at
    from {{ ref('fct_orders') }}
    where customer_id in (select customer_id from customers)
    group by customer_id
)

select
    customers.customer_id,
    last_versions.customer_version_id as last_version_id,
    last_versions.name,
    last_versions.city,
    last_versions.state,
    last_versions.segment,
    coalesce(not last_versions.is_current, false) as is_deleted,
    histories.customer_since,
    coalesce(histories.versions, 0) as versions,
    coalesce(order_totals.orders, 0) as orders,
    coalesce(order_totals.cancelled_orders, 0) as cancelled_orders,
    coalesce(order_totals.revenue, 0)::decimal(18, 2) as revenue,
    (order_totals.revenue / nullif(order_totals.orders - order_totals.cancelled_orders, 0))
        ::decimal(18, 2) as average_order_value,
    coalesce(order_totals.paid_amount, 0)::decimal(18, 2) as paid_amount,
    order_totals.first_order_at,
    order_totals.last_order_at,
    {{ shop_load_id() }}::bigint as _load_id
from customers
left join last_versions using (customer_id)
left join histories using (customer_id)
left join order_totals using (customer_id)
