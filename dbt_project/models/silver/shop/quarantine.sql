-- Every bronze row that failed a drop expectation of a silver model, with its rule, the
-- reasons, its file and line and the record as landed; replayable (`pncp quarantine
-- replay`). See macros/shop/silver.sql.
{{ shop_quarantine(['orders', 'order_items', 'payments', 'web_events', 'customers_changes', 'products_changes']) }}
