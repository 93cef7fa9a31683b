-- One row per web session: when it started (its first event, UTC day), its events, and
-- whether it converted (an order names the session). Incremental by session: a run
-- recomputes the sessions with new web events or new orders since its last run.
-- See macros/shop/incremental.sql.
-- depends_on: {{ ref('quarantine') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='session_id',
    on_schema_change='fail',
    pre_hook="{{ shop_ops_tables() }}",
    post_hook="{{ shop_record_marks(silver=['web_events', 'orders']) }}",
) }}

with touched as (
    {%- if is_incremental() %}
    {{ shop_silver_changed(this.name, 'web_events', ['session_id']) | indent(4) }}
    union
    {{ shop_silver_changed(this.name, 'orders', ['session_id']) | indent(4) }}
    {%- else %}
    select distinct session_id from {{ ref('web_events') }}
    {%- endif %}
),

sessions as (
    select
        session_id,
        min(event_ts) as started_at,
        max(event_ts) as ended_at,
        arg_min(customer_id, (event_ts, _batch, _line)) as customer_id,
        count(*) as events,
        count(*) filter (where event_type = 'product_view') as product_views,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
        count(*) filter (where event_type = 'purchase') as purchase_events
    from {{ ref('web_events') }}
    where session_id in (select session_id from touched)
    group by session_id
),

session_orders as (
    select session_id, count(distinct order_id) as orders
    from {{ ref('orders') }}
    where session_id in (select session_id from touched)
    group by session_id
)

select
    sessions.session_id,
    sessions.customer_id,
    sessions.started_at,
    sessions.ended_at,
    cast(timezone('UTC', sessions.started_at) as date) as session_date,
    sessions.events,
    sessions.product_views,
    sessions.add_to_carts,
    sessions.purchase_events,
    coalesce(session_orders.orders, 0) as orders,
    session_orders.session_id is not null as converted,
    {{ shop_load_id() }}::bigint as _load_id
from sessions
left join session_orders using (session_id)
