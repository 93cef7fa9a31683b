-- This run's bronze order lines (new batches, replayed rows), typed and checked against
-- the expectations of `order_items`; see macros/shop/silver.sql.
{{ shop_checked('order_items', source('shop_bronze', 'order_items')) }}
