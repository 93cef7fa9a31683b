-- One row per order, with the customer as they were when they ordered: the dim_customer
-- version valid at the order's time (placed_at), or the customer's first version when the
-- order's time comes before it (a late event). Incremental by order: a run recomputes the
-- orders with new silver events, lines or payments, rows replayed from the quarantine, and
-- the orders of customers whose history changed since its last run (late or out-of-order
-- changes re-attribute them). See macros/shop/incremental.sql.
-- depends_on: {{ ref('quarantine') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='order_id',
    on_schema_change='fail',
    pre_hook="{{ shop_ops_tables() }}",
    post_hook="{{ shop_record_marks(silver=['orders', 'order_items', 'payments'], gold=['dim_customer']) }}",
) }}

with touched as (
    {%- if is_incremental() %}
    {{ shop_silver_changed(this.name, 'orders', ['order_id']) | indent(4) }}
    union
    {{ shop_silver_changed(this.name, 'order_items', ['order_id']) | indent(4) }}
    union
    {{ shop_silver_changed(this.name, 'payments', ['order_id']) | indent(4) }}
    union
    -- the orders of customers whose history changed
    select order_id from {{ ref('orders') }}
    where customer_id in ({{ shop_gold_changed(this.name, 'dim_customer', ['customer_id']) }})
    {%- else %}
    select distinct order_id from {{ ref('orders') }}
    {%- endif %}
),

order_states as (
    select
        order_id,
        min(order_ts) as placed_at,
        -- the first event's values (a missing one from the next event that has it)
        arg_min(customer_id, (order_ts, _batch, _line)) as customer_id,
        arg_min(session_id, (order_ts, _batch, _line)) as session_id,
        arg_min(channel, (order_ts, _batch, _line)) as channel,
        arg_min(currency, (order_ts, _batch, _line)) as currency,
        -- the status of the latest event (as daily_sales)
        arg_max(status, (order_ts, _batch, _line)) as status
    from {{ ref('orders') }}
    where order_id in (select order_id from touched)
    group by order_id
),

order_lines as (
    select
        order_id,
        count(*) as lines,
        sum(quantity) as items,
        sum(quantity * unit_price) as amount
    from {{ ref('order_items') }}
    where order_id in (select order_id from touched)
    group by order_id
),

order_payments as (
    select
        order_id,
        sum(amount) filter (where status = 'approved') as paid_amount,
        sum(amount) filter (where status = 'refunded') as refunded_amount
    from {{ ref('payments') }}
    where order_id in (select order_id from touched)
    group by order_id
),

customer_versions as (
    select
        order_states.order_id,
        versions.customer_version_id,
        versions.city,
        versions.state,
        versions.segment
    from order_states
    join {{ ref('dim_customer') }} as versions
        on versions.customer_id = order_states.customer_id
        and (order_states.placed_at >= versions.valid_from or versions.version = 1)
        and (versions.valid_to is null or order_states.placed_at < versions.valid_to)
    -- never more than one row per order (fct_orders_one_customer_version fails if there
    -- would be: overlapping versions)
    qualify row_number() over (
        partition by order_states.order_id order by versions.valid_from desc
    ) = 1
)

select
    order_states.order_id,
    order_states.customer_id,
    customer_versions.customer_version_id,
    customer_versions.city as customer_city,
    customer_versions.state as customer_state,
    customer_versions.segment as customer_segment,
    order_states.session_id,
    order_states.channel,
    order_states.currency,
    order_states.placed_at,
    cast(timezone('UTC', order_states.placed_at) as date) as order_date,
    order_states.status,
    coalesce(order_states.status = 'cancelled', false) as is_cancelled,
    coalesce(order_lines.lines, 0)::bigint as lines,
    coalesce(order_lines.items, 0)::bigint as items,
    coalesce(order_lines.amount, 0)::decimal(18, 2) as amount,
    -- an order's revenue is its lines' amount unless cancelled (or of no known status yet)
    (case when order_states.status <> 'cancelled' then coalesce(order_lines.amount, 0) else 0 end)
        ::decimal(18, 2) as revenue,
    coalesce(order_payments.paid_amount, 0)::decimal(18, 2) as paid_amount,
    coalesce(order_payments.refunded_amount, 0)::decimal(18, 2) as refunded_amount,
    {{ shop_load_id() }}::bigint as _load_id
from order_states
left join order_lines using (order_id)
left join order_payments using (order_id)
left join customer_versions using (order_id)
