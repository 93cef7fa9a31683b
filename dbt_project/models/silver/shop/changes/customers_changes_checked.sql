-- This run's bronze customer changes (new batches, replayed rows), typed and checked
-- against the expectations of `customers_changes`; see macros/shop/silver.sql.
{{ shop_checked('customers_changes', source('shop_bronze', 'customers')) }}
