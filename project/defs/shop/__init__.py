"""E-commerce medallion: landing files -> bronze (Auto Loader style) -> silver -> gold.

Groups `shop_bronze`, `shop_silver`, `shop_gold`: the layer policy runs silver eagerly
and keeps gold fresh; the landing sensor runs bronze.
"""
