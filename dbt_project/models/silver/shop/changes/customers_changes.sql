-- Silver customers change feed: typed, one row per change (customer_id, seq) however often
-- it was delivered (the first by _batch, _line), rows failing a drop expectation left out
-- (they are in the quarantine); see macros/shop/silver.sql. dim_customer applies it.
{{ shop_silver(ref('customers_changes_checked'), key=['customer_id', 'seq']) }}
