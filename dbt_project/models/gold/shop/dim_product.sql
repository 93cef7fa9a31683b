-- Products as SCD type 1: one row per product, its latest state by seq; a deleted product
-- is kept and marked (auto_cdc.deletes: mark), so old orders still find it.
-- See macros/shop/auto_cdc.sql.
{{ shop_auto_cdc('products_changes') }}
