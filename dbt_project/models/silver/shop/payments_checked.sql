-- This run's bronze payments (new batches, replayed rows), typed and checked against the
-- expectations of `payments`; see macros/shop/silver.sql.
{{ shop_checked('payments', source('shop_bronze', 'payments')) }}
