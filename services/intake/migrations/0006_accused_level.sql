-- Art 22 para 2 (按照管理权限): the management level of the cadre an accusation names, as a
-- clerk recorded it (village, town, county_department, county_leader, city_department,
-- city_leader); routing sends the accusation to the 纪委监委 that manages that level.
alter table cases add column accused_level text;
