-- This run's bronze web events (new batches, replayed rows), typed and checked against
-- the expectations of `web_events`; see macros/shop/silver.sql.
{{ shop_checked('web_events', source('shop_bronze', 'web_events')) }}
