from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from calendars.models import BusinessCalendar, CompanyDayOff


class CompanyDayOffInline(admin.TabularInline):
    model = CompanyDayOff
    extra = 1


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(SimpleHistoryAdmin):
    list_display = ("name", "timezone", "holiday_country", "holiday_subdivision")
    search_fields = ("name",)
    inlines = [CompanyDayOffInline]
