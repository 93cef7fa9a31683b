-- Silver products change feed: typed, one row per change (product_id, seq) however often
-- it was delivered (the first by _batch, _line), rows failing a drop expectation left out
-- (they are in the quarantine); see macros/shop/silver.sql. dim_product applies it.
{{ shop_silver(ref('products_changes_checked'), key=['product_id', 'seq']) }}
