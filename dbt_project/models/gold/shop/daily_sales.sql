-- Sales by day (UTC): orders by the day they were placed (their first event), with the
-- lines and revenue of those not cancelled (an order's status is its latest event's);
-- payments by the day of the payment event. Rebuilt from silver on every run.
with order_states as (
    select
        order_id,
        min(order_ts) as placed_at,
        arg_max(status, (order_ts, _batch, _line)) as status
    from {{ ref('orders') }}
    group by order_id
),

order_lines as (
    select order_id, sum(quantity) as items, sum(quantity * unit_price) as amount
    from {{ ref('order_items') }}
    group by order_id
),

sold as (
    select
        cast(timezone('UTC', order_states.placed_at) as date) as event_date,
        count(*) as orders,
        count(*) filter (where order_states.status = 'cancelled') as cancelled_orders,
        sum(order_lines.items) filter (where order_states.status <> 'cancelled') as items,
        sum(order_lines.amount) filter (where order_states.status <> 'cancelled') as revenue
    from order_states
    left join order_lines using (order_id)
    group by 1
),

paid as (
    select
        event_date,
        sum(amount) filter (where status = 'approved') as paid_amount,
        sum(amount) filter (where status = 'refunded') as refunded_amount
    from {{ ref('payments') }}
    group by event_date
)

select
    event_date,
    coalesce(sold.orders, 0) as orders,
    coalesce(sold.cancelled_orders, 0) as cancelled_orders,
    coalesce(sold.items, 0)::bigint as items,
    coalesce(sold.revenue, 0)::decimal(18, 2) as revenue,
    coalesce(paid.paid_amount, 0)::decimal(18, 2) as paid_amount,
    coalesce(paid.refunded_amount, 0)::decimal(18, 2) as refunded_amount
from sold
full join paid using (event_date)
order by event_date
