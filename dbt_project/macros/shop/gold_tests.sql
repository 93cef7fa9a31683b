{#- FAIL expectation of daily_sales: its totals equal the same totals computed straight
    from silver (a join that fans out, or an order lost between layers, shows here).
    One row (gold's and silver's totals side by side) when they differ. -#}
{% test shop_reconciles_with_silver(model) %}
with gold as (
    select
        coalesce(sum(orders), 0) as orders,
        coalesce(sum(items), 0) as items,
        coalesce(sum(revenue), 0) as revenue,
        coalesce(sum(paid_amount), 0) as paid_amount
    from {{ model }}
),

kept_orders as (
    select order_id
    from {{ ref('orders') }}
    group by order_id
    having arg_max(status, (order_ts, _batch, _line)) <> 'cancelled'
),

silver as (
    select
        (select count(distinct order_id) from {{ ref('orders') }}) as orders,
        coalesce(sum(quantity), 0) as items,
        coalesce(sum(quantity * unit_price), 0) as revenue,
        (select coalesce(sum(amount), 0) from {{ ref('payments') }} where status = 'approved')
            as paid_amount
    from {{ ref('order_items') }}
    where order_id in (select order_id from kept_orders)
)

select
    gold.orders as gold_orders, silver.orders as silver_orders,
    gold.items as gold_items, silver.items as silver_items,
    gold.revenue as gold_revenue, silver.revenue as silver_revenue,
    gold.paid_amount as gold_paid_amount, silver.paid_amount as silver_paid_amount
from gold
cross join silver
where gold.orders <> silver.orders
    or gold.items <> silver.items
    or gold.revenue <> silver.revenue
    or gold.paid_amount <> silver.paid_amount
{% endtest %}

{#- FAIL expectation of an SCD2 dimension: per key, at most one current version, versions
    in order without overlap (each starts at or after the previous one's end, and ends at
    or after it starts), only the last one open. One row per offending version. -#}
{% test shop_scd2_history_valid(model, keys) %}
{%- set partition = keys | join(', ') -%}
with versions as (
    select
        *,
        lag(valid_to) over by_start as previous_valid_to,
        lead(valid_from) over by_start as next_valid_from,
        count(*) filter (where is_current) over (partition by {{ partition }}) as current_versions
    from {{ model }}
    window by_start as (partition by {{ partition }} order by start_seq)
)
select *,
    case
        when current_versions > 1 then 'more than one current version'
        when valid_to < valid_from then 'ends before it starts'
        when valid_from < previous_valid_to then 'overlaps the previous version'
        when valid_to is null and next_valid_from is not null then 'open but not the last version'
        when is_current <> (valid_to is null and not closed_by_delete) then 'is_current disagrees with valid_to'
    end as failure_reason
from versions
where current_versions > 1
    or valid_to < valid_from
    or valid_from < previous_valid_to
    or (valid_to is null and next_valid_from is not null)
    or is_current <> (valid_to is null and not closed_by_delete)
{% endtest %}

{#- The totals gold must reconcile with, computed straight from silver (the orders in
    silver orders; an order's status is its latest event's, its customer its first
    event's that names one; revenue and items leave cancelled orders, and orders of no
    known status, out, as daily_sales does). One row. -#}
{% macro shop_silver_totals() %}
with order_states as (
    select
        order_id,
        arg_max(status, (order_ts, _batch, _line)) as status,
        arg_min(customer_id, (order_ts, _batch, _line)) as customer_id
    from {{ ref('orders') }}
    group by order_id
),

lines as (
    select order_id, sum(quantity) as items, sum(quantity * unit_price) as amount
    from {{ ref('order_items') }}
    group by order_id
),

paid as (
    select order_id, sum(amount) filter (where status = 'approved') as paid_amount
    from {{ ref('payments') }}
    group by order_id
)

select
    count(*) as orders,
    count(*) filter (where customer_id is not null) as orders_with_customer,
    coalesce(sum(items) filter (where status <> 'cancelled'), 0) as items,
    coalesce(sum(amount) filter (where status <> 'cancelled'), 0) as revenue,
    coalesce(sum(amount) filter (where status <> 'cancelled' and customer_id is not null), 0)
        as revenue_with_customer,
    coalesce(sum(paid_amount), 0) as paid_amount
from order_states
left join lines using (order_id)
left join paid using (order_id)
{% endmacro %}

{#- FAIL expectation: the model's totals equal silver's (shop_silver_totals). `totals`
    maps a silver total (orders, orders_with_customer, items, revenue,
    revenue_with_customer, paid_amount) to the aggregate over the model that must equal
    it. One row, gold's and silver's values side by side, when one differs. -#}
{% test shop_totals_reconcile_with_silver(model, totals) %}
with gold as (
    select
        {%- for name, aggregate in totals.items() %}
        coalesce({{ aggregate }}, 0) as "{{ name }}"{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ model }}
),

silver as (
    {{ shop_silver_totals() | indent(4) }}
)

select
    {%- for name in totals %}
    gold."{{ name }}" as "gold_{{ name }}",
    silver."{{ name }}" as "silver_{{ name }}"{% if not loop.last %},{% endif %}
    {%- endfor %}
from gold
cross join silver
where {% for name in totals %}gold."{{ name }}" <> silver."{{ name }}"{% if not loop.last %} or {% endif %}{% endfor %}
{% endtest %}

{#- FAIL expectation of fct_orders: every order of a customer the dimension knows joins
    exactly one of the customer's versions, the one valid at the order's time (the first
    version for an order older than it), and is attributed to it. Counted again from
    `dimension` here, not read from the fact. One row per offending order. An order whose
    customer the dimension does not know yet (a late-arriving customer) is the WARN check
    shop_customer_known's, not a failure: it is attributed when the customer lands. -#}
{% test shop_one_customer_version(model, dimension) %}
with known as (
    select orders.order_id, orders.customer_id, orders.placed_at, orders.customer_version_id
    from {{ model }} as orders
    where orders.customer_id in (select customer_id from {{ dimension }})
),

-- an inner join first (a hash join on the customer), then the orders left with none:
-- the validity conditions in a LEFT join's ON would make it a nested loop
candidates as (
    select known.order_id, versions.customer_version_id, versions.start_seq
    from known
    join {{ dimension }} as versions on versions.customer_id = known.customer_id
    where (known.placed_at >= versions.valid_from or versions.version = 1)
      and (versions.valid_to is null or known.placed_at < versions.valid_to)
),

matches as (
    select
        known.order_id,
        known.customer_id,
        known.placed_at,
        known.customer_version_id,
        count(candidates.customer_version_id) as versions,
        list(candidates.customer_version_id order by candidates.start_seq) as matching_versions
    from known
    left join candidates using (order_id)
    group by all
)

select
    *,
    case
        when versions = 0 then 'no version of the customer is valid at the order''s time'
        when versions > 1 then 'more than one version of the customer is valid at the order''s time'
        else 'attributed to another version than the one valid at the order''s time'
    end as failure_reason
from matches
where versions <> 1 or customer_version_id is distinct from matching_versions[1]
{% endtest %}

{#- WARN check of fct_orders: orders whose customer the dimension does not know (yet). -#}
{% test shop_customer_known(model, dimension) %}
select order_id, customer_id, placed_at
from {{ model }}
where customer_id is not null
  and customer_id not in (select customer_id from {{ dimension }})
{% endtest %}
