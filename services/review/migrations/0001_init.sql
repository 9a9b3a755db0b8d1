-- Schema review: tables are added by later migrations.
select 1;
