// Теги Thunderbird для меток, которые ставит mailproc (docs/guide.ru.md, раздел 1).
// Каждая метка mailproc (ключевое слово IMAP латиницей) показывается тегом с русским
// названием и цветом. Как установить: положите этот файл в папку профиля Thunderbird под
// именем user.js (или допишите строки в конец имеющегося user.js) и перезапустите
// Thunderbird; либо задайте те же параметры в редакторе настроек (Настройки — Основные —
// Редактор настроек). Названия и цвета потом меняют в Thunderbird (Настройки — Основные —
// Теги), удалив перед этим user.js: иначе он вернёт их при каждом запуске.
// Файл создан из mailproc/keywords.py (thunderbird_prefs).

user_pref("mailnews.tags.registration.tag", "Регистрация");
user_pref("mailnews.tags.registration.color", "#2E7D32");

user_pref("mailnews.tags.order.tag", "Заказ");
user_pref("mailnews.tags.order.color", "#1565C0");

user_pref("mailnews.tags.question.tag", "Вопрос");
user_pref("mailnews.tags.question.color", "#EF6C00");

user_pref("mailnews.tags.department.tag", "Ответ отдела");
user_pref("mailnews.tags.department.color", "#6A1B9A");

user_pref("mailnews.tags.automatic.tag", "Автоматическое");
user_pref("mailnews.tags.automatic.color", "#757575");

user_pref("mailnews.tags.bounce.tag", "Недоставленное");
user_pref("mailnews.tags.bounce.color", "#C62828");
