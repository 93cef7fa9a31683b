-- Products ranked by revenue over the whole period (1 = the best seller), with their
-- current name and category (dim_product is SCD type 1). Rebuilt each run from the
-- incremental product_daily_sales: one row per product, a few thousand rows.
with sales as (
    select
        product_id,
        sum(orders) as orders,
        sum(units) as units,
        sum(revenue) as revenue,
        min(event_date) as first_sold_on,
        max(event_date) as last_sold_on
    from {{ ref('product_daily_sales') }}
    group by product_id
)

select
    rank() over (order by sales.revenue desc, sales.units desc, sales.product_id) as revenue_rank,
    sales.product_id,
    products.name,
    products.category,
    products.price as current_price,
    products.active,
    products.is_deleted,
    sales.orders,
    sales.units,
    sales.revenue::decimal(18, 2) as revenue,
    sales.first_sold_on,
    sales.last_sold_on
from sales
left join {{ ref('dim_product') }} as products using (product_id)
