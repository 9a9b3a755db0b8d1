-- Schema notify: tables are added by later migrations.
select 1;
