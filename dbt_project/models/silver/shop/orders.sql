-- Silver orders: typed, one row per event_id (the first by _batch, _line), rows failing a
-- drop expectation left out (they are in the quarantine); see macros/shop/silver.sql.
{{ shop_silver(ref('orders_checked')) }}
