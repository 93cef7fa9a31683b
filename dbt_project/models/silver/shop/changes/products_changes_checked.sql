-- This run's bronze product changes (new batches, replayed rows), typed and checked
-- against the expectations of `products_changes`; see macros/shop/silver.sql.
{{ shop_checked('products_changes', source('shop_bronze', 'products')) }}
