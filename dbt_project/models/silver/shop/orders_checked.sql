-- This run's bronze orders (new batches, replayed rows), typed and checked against the
-- expectations of `orders`; see macros/shop/silver.sql.
{{ shop_checked('orders', source('shop_bronze', 'orders')) }}
