-- The whole period in one row, from daily_sales: what a dashboard's headline shows.
select
    min(event_date) as first_day,
    max(event_date) as last_day,
    count(*) as days,
    coalesce(sum(orders), 0)::bigint as orders,
    coalesce(sum(cancelled_orders), 0)::bigint as cancelled_orders,
    coalesce(sum(items), 0)::bigint as items,
    coalesce(sum(revenue), 0)::decimal(18, 2) as revenue,
    coalesce(sum(paid_amount), 0)::decimal(18, 2) as paid_amount,
    coalesce(sum(refunded_amount), 0)::decimal(18, 2) as refunded_amount,
    (sum(revenue) / nullif(sum(orders) - sum(cancelled_orders), 0))::decimal(18, 2)
        as average_order_value
from {{ ref('daily_sales') }}
