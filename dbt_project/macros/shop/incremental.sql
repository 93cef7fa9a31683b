{#-
  How the shop's dimensions and gold models take in only what changed since their last
  run, and stay equal to a full rebuild.

  Every such model records, after each run (a post-hook, in the transaction of its
  insert), a mark per upstream in `shop_ops.cdc_watermarks` (macros/shop/ops_tables.sql):

    a silver model   the highest bronze `_batch` it holds (silver's rows arrive in
                     increasing batches; `quarantine:<source>` marks the latest replay,
                     whose rows keep their old batch)
    a gold model     the highest `_load_id` it holds: every row a run writes carries the
                     run's `_load_id`, above any earlier run's and any recorded mark

  and a run takes the rows above its marks. The marks are read by subqueries, not at
  compile time, so a compiled model does not depend on the state it was compiled in (the
  property tests run the compiled SQL directly). A model that failed or was not selected
  records nothing, and is given the same rows again next time; every consumer recomputes
  whole keys (an order, a session, a day, a customer), so taking a row twice is harmless.
-#}

{#- A model of this project from the manifest (its YAML config included). -#}
{% macro shop_model_node(name) %}
    {%- set node = graph.nodes.get('model.' ~ project_name ~ '.' ~ name) -%}
    {%- if node is none -%}{{ exceptions.raise_compiler_error("no model " ~ name) }}{%- endif -%}
    {{ return(node) }}
{% endmacro %}

{#- SQL: the mark `consumer` has taken in from `upstream` (-1 when none). -#}
{% macro shop_mark(consumer, upstream) -%}
(select coalesce(max(mark), -1) from shop_ops.cdc_watermarks
 where consumer = {{ shop_literal(consumer) }} and upstream = {{ shop_literal(upstream) }})
{%- endmacro %}

{#- SQL: this run's `_load_id`, above every row already in the model and every mark a
    consumer has taken from it (so a rebuilt model is taken in again downstream). -#}
{% macro shop_load_id() -%}
(select greatest(
    {%- if is_incremental() %}
    (select coalesce(max(_load_id), 0) from {{ this }}),
    {%- endif %}
    (select coalesce(max(mark), 0) from shop_ops.cdc_watermarks
     where upstream = {{ shop_literal(this.name) }})
) + 1)
{%- endmacro %}

{#- SQL: `columns` of the rows of silver model `silver` that `consumer` has not taken in:
    a bronze batch above its mark, or replayed from the quarantine since its mark. -#}
{% macro shop_silver_changed(consumer, silver, columns) -%}
    {%- set source_name = shop_silver_node(silver).config.meta.shop.source if execute else silver -%}
select {% for c in columns %}"{{ c }}"{% if not loop.last %}, {% endif %}{% endfor %}
from {{ ref(silver) }}
where _batch > {{ shop_mark(consumer, silver) }}
union
select {% for c in columns %}json_extract_string(record, {{ shop_literal('$.' ~ c) }}) as "{{ c }}"{% if not loop.last %}, {% endif %}{% endfor %}
from {{ ref('quarantine') }}
where source = {{ shop_literal(source_name) }} and status = 'replayed'
  and epoch_us(replayed_at) > {{ shop_mark(consumer, 'quarantine:' ~ source_name) }}
{%- endmacro %}

{#- SQL: `columns` of the rows of gold model `model` written since `consumer` took it in. -#}
{% macro shop_gold_changed(consumer, model, columns) -%}
select {% for c in columns %}"{{ c }}"{% if not loop.last %}, {% endif %}{% endfor %}
from {{ ref(model) }}
where _load_id > {{ shop_mark(consumer, model) }}
{%- endmacro %}

{#- Post-hook: the marks of `silver` models (and their replays) and `gold` models that
    this run has taken in (nothing while dbt parses). -#}
{% macro shop_record_marks(silver=[], gold=[]) -%}
    {%- if not execute -%}
select 1
    {%- else -%}
    {%- set marks = [] -%}
    {%- for name in silver -%}
        {%- set source_name = shop_silver_node(name).config.meta.shop.source -%}
        {%- do marks.append((name, 'select max(_batch) from ' ~ ref(name))) -%}
        {%- do marks.append(('quarantine:' ~ source_name,
            'select max(epoch_us(replayed_at)) from ' ~ ref('quarantine')
            ~ ' where source = ' ~ shop_literal(source_name) ~ " and status = 'replayed'")) -%}
    {%- endfor -%}
    {%- for name in gold -%}
        {%- do marks.append((name, 'select max(_load_id) from ' ~ ref(name))) -%}
    {%- endfor -%}
insert into shop_ops.cdc_watermarks (consumer, upstream, mark, run_id, recorded_at)
select consumer, upstream, mark, {{ shop_literal(shop_run_id()) }}, current_timestamp
from (values
    {%- for upstream, mark in marks %}
    ({{ shop_literal(this.name) }}, {{ shop_literal(upstream) }}, ({{ mark }})){% if not loop.last %},{% endif %}
    {%- endfor %}
) as marks(consumer, upstream, mark)
where mark is not null
    {%- endif -%}
{%- endmacro %}

{#- Post-hook of a model that writes a placeholder row for each key it recomputed and
    found empty (so delete+insert removes the key's old rows): the placeholders go. -#}
{% macro shop_drop_placeholders(condition) -%}
delete from {{ this }} where {{ condition }}
{%- endmacro %}
