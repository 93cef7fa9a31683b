-- Customers as SCD type 2: one row per version, valid_from/valid_to/is_current, history
-- kept for the columns declared in the YAML (auto_cdc); see macros/shop/auto_cdc.sql.
{{ shop_auto_cdc('customers_changes') }}
